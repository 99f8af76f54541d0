import QRCode from 'qrcode';

const MIN_WIDTH = 280;
const MAX_WIDTH = 1280;

/** A QR code of `text` as PNG bytes, `width` pixels square within WeChat's 280 to 1280. */
export function drawQrCode(text: string, width: number): Promise<Buffer> {
  return QRCode.toBuffer(text, {
    type: 'png',
    errorCorrectionLevel: 'M',
    width: Math.round(Math.min(Math.max(width, MIN_WIDTH), MAX_WIDTH)),
    margin: 4,
  });
}
