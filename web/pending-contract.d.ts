// TEMPORARY (issue20 branch): step/contract.ts on main still imports node:fs and node:path for readManifest;
// the lead's change moves them to step/read-manifest.ts. Until it lands, the web type check (which has no
// Node types, so that any other Node API in web code fails it) lets these two through. Delete on merge.
declare module 'node:fs';
declare module 'node:path';
