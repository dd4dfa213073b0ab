// Who is signed in (on a server with user accounts) and what their role allows: the UI
// offers only the actions the server would accept. Without accounts (`user` null: the
// desktop window, a server of one) everything is allowed.
import { api } from "../api/api";
import type { Me } from "../bindings/Me";
import type { Role } from "../bindings/Role";

const RANK: Record<Role, number> = { annotator: 0, reviewer: 1, admin: 2 };

/** Whether `user` may do what needs `need` (each role may do what the ones below it may). */
export function allows(user: Me | null, need: Role): boolean {
  return user === null || RANK[user.role] >= RANK[need];
}

/** Why an action is not offered, for its tooltip; null when it is allowed. */
export function needs(user: Me | null, need: Role, doing: string): string | null {
  if (allows(user, need)) return null;
  return `${doing} needs ${need === "admin" ? "an" : "a"} ${need}; you are signed in as ${user?.name} (${user?.role})`;
}

export const session = $state<{ user: Me | null }>({ user: null });

/** Asks the server who is signed in (a 401 here makes the app ask for a token). */
export async function loadSession(): Promise<void> {
  try {
    session.user = await api.me();
  } catch {
    session.user = null;
  }
}
