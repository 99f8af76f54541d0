export { type AtRestCipher, type AtRestKey, createAtRestCipher, parseAtRestKeys } from './at-rest.js';
export {
  acceptOpenData,
  type Base64Rules,
  decodeBase64Field,
  decodeEncryptedOpenData,
  decryptOpenData,
  type EncryptedOpenData,
  encryptOpenData,
  OPEN_DATA_MAX_BYTES,
  rawDataSignature,
  sessionKeySignature,
  verifyRawDataSignature,
} from './open-data.js';
export { openUnderSecret, sealUnderSecret } from './secret-seal.js';
