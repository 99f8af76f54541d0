import jsQRModule from 'jsqr';
import { PNG } from 'pngjs';

// jsqr is a UMD bundle whose module.exports is a function with `default` on it: typed as the namespace.
const jsQR = (jsQRModule as unknown as { default: typeof import('jsqr').default }).default;

/** What a phone's camera reads from a QR code picture (PNG bytes); null when it finds no code. */
export function readQrCode(png: Buffer): string | null {
  const image = PNG.sync.read(png);
  const pixels = new Uint8ClampedArray(image.data.buffer, image.data.byteOffset, image.data.length);
  return jsQR(pixels, image.width, image.height)?.data ?? null;
}

/** The bytes of a `data:image/png;base64,…` URL; throws for any other. */
export function pngOfDataUrl(url: string): Buffer {
  const match = /^data:image\/png;base64,([A-Za-z0-9+/]+=*)$/.exec(url);
  if (!match) throw new Error(`not a PNG data URL: ${url.slice(0, 40)}…`);
  return Buffer.from(match[1]!, 'base64');
}
