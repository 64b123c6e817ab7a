// dotenv requires 'crypto' when it loads, only for decrypting .env.vault files, which tf
// does not use; loading crypto costs about 4 ms of every start. The build aliases dotenv's
// 'crypto' to this file, which loads the real module ('node:crypto') on first use only.
'use strict';
module.exports = {
  createDecipheriv: (...args) => require('node:crypto').createDecipheriv(...args),
};
