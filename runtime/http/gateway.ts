/** The listener's old name, kept for callers outside the protocol folders until they import listener.ts. */
export { startHttpGateway, type HttpGateway, type HttpGatewayOptions } from './listener.ts';
