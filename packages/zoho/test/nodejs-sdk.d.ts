// Zoho's Node.js SDK ships no type declarations; tests use it untyped, as JavaScript apps do.
declare module "@zohocrm/nodejs-sdk-8.0";
