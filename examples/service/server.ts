/**
 * The example orders service (README.md): in this folder,
 *   npm install && WXAUTH_ISSUER=http://localhost:3000 [WXAUTH_AUDIENCE=wxauth] [PORT=8080] npm start
 */
import { createVerifier } from '@wxauth/verifier';
import { createOrdersApp } from './app.js';

const issuer = process.env.WXAUTH_ISSUER;
if (!issuer) {
  process.stderr.write("orders: set WXAUTH_ISSUER to wxauth's PUBLIC_URL\n");
  process.exit(1);
}
const verifier = createVerifier({
  issuer,
  audience: process.env.WXAUTH_AUDIENCE ?? 'wxauth',
  onError: (error) => process.stderr.write(`orders: ${error.message}\n`),
});
// Fetching the keys now fails early on a wrong issuer; the service starts anyway if wxauth is down
// (requests answer 503 until its keys can be had).
await verifier.ready().catch((error: Error) => process.stderr.write(`orders: ${error.message}\n`));

const server = createOrdersApp(verifier).listen(
  Number(process.env.PORT ?? 8080),
  process.env.HOST ?? '127.0.0.1',
);
server.once('listening', () => {
  const address = server.address();
  process.stdout.write(
    `orders listening on port ${typeof address === 'object' && address ? address.port : ''}\n`,
  );
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
