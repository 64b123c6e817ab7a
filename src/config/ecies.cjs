// eciesjs, loaded on first use. CommonJS on purpose: `require` here runs only when a dotenvx
// value is decrypted, in the bundle as in tests, where a static import would evaluate the
// elliptic-curve library at every tf start whether or not any file holds a dotenvx value.
exports.loadEcies = () => require('eciesjs');
