// TODO(chai 6 ships no types and @types/chai is not a devDependency yet): delete this file once it is.
// Until then `expect` is untyped; a real declaration file, once installed, takes precedence over this.
declare module 'chai';
