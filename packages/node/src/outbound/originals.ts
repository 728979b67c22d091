import http from 'node:http';
import https from 'node:https';

/**
 * node:http and node:https functions as they were before labcoat patched them. labcoat's own
 * traffic (span export, control plane) uses these, so it is never traced or faulted.
 */
export const originalHttp = {
  httpRequest: http.request,
  httpGet: http.get,
  httpsRequest: https.request,
  httpsGet: https.get,
};
