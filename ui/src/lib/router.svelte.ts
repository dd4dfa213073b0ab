// Hash routing: the current route is reactive state.
import { parseHash, type Route } from "./hash";

export { formatHash, parseHash, VIEWS, type Route, type View } from "./hash";

export const router = $state<{ route: Route }>({ route: parseHash(location.hash) });

window.addEventListener("hashchange", () => {
  router.route = parseHash(location.hash);
});

/** Navigate to a new hash (adds a history entry). */
export function navigate(hash: string): void {
  if (location.hash !== hash) location.hash = hash;
}

/** Replace the current hash without a history entry (e.g. while typing filters). */
export function replaceHash(hash: string): void {
  if (location.hash === hash) return;
  history.replaceState(history.state, "", hash);
  router.route = parseHash(hash);
}
