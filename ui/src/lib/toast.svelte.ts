// A small toast queue shared by all views.
export type ToastKind = "info" | "ok" | "error";
export interface Toast {
  id: number;
  kind: ToastKind;
  text: string;
}

export const toasts = $state<{ items: Toast[] }>({ items: [] });
let next = 1;

export function toast(text: string, kind: ToastKind = "info", ms = kind === "error" ? 6000 : 1800): void {
  const id = next++;
  toasts.items = [...toasts.items.slice(-4), { id, kind, text }];
  setTimeout(() => dismiss(id), ms);
}

export function dismiss(id: number): void {
  toasts.items = toasts.items.filter((t) => t.id !== id);
}

/** Show an error of any shape (ApiError, Error, string) as a toast. A server's "sign in
 *  first" (HTTP 401) is not shown: the sign-in prompt asks for the token instead. */
export function toastError(e: unknown, prefix = ""): void {
  if (e && typeof e === "object" && "status" in e && (e as { status: unknown }).status === 401) return;
  const msg = e instanceof Error ? e.message : String(e);
  toast(prefix ? `${prefix}: ${msg}` : msg, "error");
}
