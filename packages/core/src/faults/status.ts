import { LabcoatInputError } from '../errors.js';
import { param, type FaultKind } from './kind.js';

interface StatusParams {
  status: number;
  body: string;
  headers: Record<string, string>;
}

const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const HEADER_VALUE = /^[\t\x20-\x7e]*$/;

/** HTTP status: the dependency is not called; the caller gets this status, body and headers. */
export const statusKind: FaultKind<StatusParams> = {
  name: 'status',
  summary: 'synthetic HTTP response (status 100-599, optional body, headers, retryAfter seconds)',
  parse(spec, where) {
    const status = param.int(spec, 'status', where, 100, 599);
    const body = param.string(spec, 'body', where, 65536, '');
    const headers: Record<string, string> = {};
    const given = spec['headers'];
    if (given !== undefined) {
      if (typeof given !== 'object' || given === null || Array.isArray(given)) {
        throw new LabcoatInputError(`${where}.headers`, 'expected an object of header name to string value');
      }
      for (const [name, value] of Object.entries(given)) {
        if (!HEADER_NAME.test(name) || typeof value !== 'string' || !HEADER_VALUE.test(value)) {
          throw new LabcoatInputError(`${where}.headers.${name}`, 'expected a token header name and a printable ASCII value');
        }
        headers[name.toLowerCase()] = value;
      }
    }
    if (spec['retryAfter'] !== undefined) {
      headers['retry-after'] = String(param.int(spec, 'retryAfter', where, 0, 86400));
    }
    if (body !== '' && headers['content-type'] === undefined) {
      headers['content-type'] = body.trimStart().startsWith('{') ? 'application/json' : 'text/plain; charset=utf-8';
    }
    return { status, body, headers };
  },
  action: (p, delayMs) => ({ type: 'respond', delayMs, status: p.status, headers: p.headers, body: p.body }),
};
