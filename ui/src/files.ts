// Files the operator hands the window: a backend's log to follow, or its .env to import. The
// window only ever holds their paths; the backend reads them.

/** What a picked or dropped file is for. */
export type FileKind = "log" | "env";

/** The last part of a path: "/srv/backend/.env" → ".env". */
export function baseName(path: string): string {
  const parts = path.split(/[\\/]/);
  return parts[parts.length - 1] || path;
}

/**
 * What a dropped file is, by its name: a `.env` (also `.env.production`, `backend.env`) is
 * imported, anything else is a log to follow.
 */
export function fileKindOf(path: string): FileKind {
  const name = baseName(path).toLowerCase();
  return name === ".env" || name.startsWith(".env.") || name.endsWith(".env") ? "env" : "log";
}

/**
 * One hand-over of a file to a page (picked in the guided start, dropped on the window): `n`
 * grows with each, so the same path handed over twice is taken twice.
 */
export interface FileRequest {
  path: string;
  n: number;
}
