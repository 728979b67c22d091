/** The sidecar proxy: HTTP-aware fault injection and spans for services in any language, with Toxiproxy's API and toxics. */
export { ProxyServer, loadProxyFile, parseProxyFile, DEFAULT_ADMIN, type ProxyServerOptions, type ProxyFile } from './server.js';
export { Proxy, parseProxyConfig, parseHostPort, type ProxyConfig, type ProxyJson, type ProxyStats } from './proxy.js';
export { DataPlane, type AttackSource, type ProxiedCall, type ProxyFault, type DataPlaneOptions, type ControlPlaneOptions } from './dataplane.js';
export { TOXIC_TYPES, Toxic, ApiError, parseToxic, type ToxicJson, type ToxicStream } from './toxics.js';
export { CALLER_HEADER, type ListenerStats } from './http-listener.js';
export { ADMIN_VERSION } from './admin.js';
