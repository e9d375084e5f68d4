/** Injection token of the API process's side of a pool (`PoolApi`), or `null` when this process is not one. */
export const POOL_API = Symbol('alectio:pool_api');
