export {
  acceptOpenData,
  type Base64Rules,
  decodeBase64Field,
  decryptOpenData,
  type EncryptedOpenData,
  encryptOpenData,
  OPEN_DATA_MAX_BYTES,
  rawDataSignature,
  sessionKeySignature,
  verifyRawDataSignature,
} from './open-data.js';
