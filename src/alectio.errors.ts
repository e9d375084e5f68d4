/** The app's `@Train()`, `@Test()` and `@Infer()` methods cannot be served; thrown by `app.init()`. */
export class AlectioDiscoveryError extends Error {
  override readonly name = 'AlectioDiscoveryError';
}

/** A result of a customer's method that breaks PROTOCOL.md's contract; answered 500. */
export class ResultContractError extends Error {
  override readonly name = 'ResultContractError';
}

/** The module's options, or where the app put its routes, cannot work; thrown while the app starts. */
export class AlectioConfigurationError extends Error {
  override readonly name = 'AlectioConfigurationError';
}
