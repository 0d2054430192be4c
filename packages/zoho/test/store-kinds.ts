import type { TokenStore } from "@tokenstore/core";
import { defaultServerUrls, isolatedLocation, parseStoreUrl, probeStore, redactUrl } from "@tokenstore/url";

/**
 * Every TokenStore the Zoho SDK tests run against, each at a fresh private location per test
 * (temp dir, random table, key prefix or collection; see @tokenstore/url) so that concurrent
 * test runs never meet. A store whose adapter does not load or whose server does not answer is
 * skipped with its reason instead of failing the others.
 */

export interface StoreLocation {
  /** A store on this location: a new instance each time, so a second open() is a "restart". */
  open(): Promise<TokenStore>;
  /** Closes a store open() returned. */
  close(store: TokenStore): Promise<void>;
  /** Removes everything the location holds (only what this test created). */
  destroy(): Promise<void>;
}

export interface StoreKind {
  name: string;
  /** Why the kind cannot run here, or null. */
  skip: string | null;
  location(): Promise<StoreLocation>;
}

export async function storeKinds(): Promise<StoreKind[]> {
  const servers = defaultServerUrls();
  const urls = ["memory:", "file:", "sqlite:", ...servers.map((s) => s.url)];
  const problems = await Promise.all(urls.map((url) => probeStore(url)));
  return urls.map((url, i) => {
    const name = parseStoreUrl(url).kind;
    const server = servers.find((s) => s.kind === name);
    const problem = problems[i]!;
    return {
      name,
      skip: problem && (server ? `no ${server.label} at ${redactUrl(url)} (${problem}); set ${server.env} to run it` : problem),
      async location() {
        const location = await isolatedLocation(url);
        return {
          open: () => location.open(),
          // Memory dies with its instance: a "restart" keeps the instance, and only the SDK starts afresh.
          close: (store) => (name === "memory" ? Promise.resolve() : store.close()),
          destroy: () => location.destroy(),
        };
      },
    };
  });
}
