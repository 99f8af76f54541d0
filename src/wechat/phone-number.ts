import { z } from 'zod';

/**
 * The user's phone number as WeChat gives it (both APIs), watermark removed: the type and, through
 * z.toJSONSchema, the document's PhoneNumber (never parsed at answer time; parsePhoneNumber checks it).
 */
export const PhoneNumber = z.object({
  // With the country code outside mainland China (e.g. "+85261234567"), else without.
  phoneNumber: z.string(),
  // Without the country code.
  purePhoneNumber: z.string(),
  countryCode: z.string(),
});
export type PhoneNumber = z.infer<typeof PhoneNumber>;

const PHONE_NUMBER = /^\+?\d{4,24}$/;
const PURE_PHONE_NUMBER = /^\d{4,20}$/;
const COUNTRY_CODE = /^\d{1,4}$/;

/**
 * A phone number from either API (getuserphonenumber's `phone_info`, or the decrypted legacy open data),
 * only its three fields kept; null when it is not one. One parser, so both APIs answer alike.
 */
export function parsePhoneNumber(value: unknown): PhoneNumber | null {
  if (value === null || typeof value !== 'object') return null;
  const { phoneNumber, purePhoneNumber, countryCode } = value as Record<string, unknown>;
  if (
    typeof phoneNumber !== 'string' ||
    !PHONE_NUMBER.test(phoneNumber) ||
    typeof purePhoneNumber !== 'string' ||
    !PURE_PHONE_NUMBER.test(purePhoneNumber) ||
    typeof countryCode !== 'string' ||
    !COUNTRY_CODE.test(countryCode)
  ) {
    return null;
  }
  return { phoneNumber, purePhoneNumber, countryCode };
}
