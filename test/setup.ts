// Loaded by mocha before any test (see .mocharc.json): a promise rejection nobody handled is a bug,
// so it fails the run instead of printing a warning.
process.on('unhandledRejection', (reason) => {
  throw reason instanceof Error ? reason : new Error(`unhandled rejection: ${String(reason)}`);
});
