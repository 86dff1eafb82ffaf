// What every screen shares: the app's state (the wasm core, the signed-in session, the
// screen on show), who the user is, and the page's fixed elements. Screens live in their
// own modules; app.ts boots and routes.ts chooses between them.

import type { Core, CoreEvent, LockState, SyncStatus } from './core.js';

/** The session kept (encrypted) by the core while unlocked. */
export interface User {
  id: string;
  name: string;
  role: string;
  roles?: string[];
  organisation?: string;
  username?: string;
}
export interface Session {
  token: string;
  refresh_token: string | null;
  expires_at_ms: number;
  device_id: string | null;
  user: User;
}
/** The server's answer to sign-in and refresh. */
export interface TokenBody {
  token: string;
  refresh_token?: string | null;
  expires_in?: number;
  device_id?: string | null;
  user?: User;
}
/** The screen on show. */
export interface View {
  name: string;
  id?: string;
  update?(event: CoreEvent): void;
  statusChanged?(status: SyncStatus): void;
  remoteError?(event: Extract<CoreEvent, { type: 'error' }>): void;
  flushTyping?(): void;
  dispose?: (() => void) | null;
}

const EMERGENCY_ROLE = 'emergency_clinician';
const COMMISSIONER_ROLE = 'commissioner';

/** The app's state while it runs: one object, so every module reads and sets the same. */
export const app: {
  /** The wasm core, opened by `boot` before any screen is drawn. */
  rf: Core | null;
  /** While unlocked: the access and refresh tokens, the device and the user. Stored
   * encrypted by the core (saveSession). */
  session: Session | null;
  /** The token renewal in flight, shared by everyone who needs it. */
  refreshing: Promise<boolean> | null;
  erasing: boolean;
  /** The current screen. */
  view: View | null;
  lastStatus: SyncStatus | null;
  lastActivity: number;
} = {
  rf: null,
  session: null,
  refreshing: null,
  erasing: false,
  view: null,
  lastStatus: null,
  lastActivity: Date.now(),
};

export function byTestId<T extends HTMLElement = HTMLElement>(testid: string): T {
  const el = document.querySelector<T>(`[data-testid="${testid}"]`);
  if (!el) throw new Error(`index.html has no ${testid}`);
  return el;
}

export function main(): HTMLElement {
  return elementById('main');
}

// The wasm core, opened by `boot` before any screen is drawn.
export function core(): Core {
  if (!app.rf) throw new Error('Red Folder has not started');
  return app.rf;
}

function elementById(id: string): HTMLElement {
  const el = document.getElementById(id);
  if (!el) throw new Error(`index.html has no #${id}`);
  return el;
}

export function show(...nodes: Node[]): void {
  if (app.view) app.view.dispose?.();
  app.view = null;
  main().replaceChildren(...nodes);
}

export function isEmergencyClinician() {
  return app.session?.user?.role === EMERGENCY_ROLE;
}

// Commissioners read the scheme's figures across practices; no plan reaches them.
export function isCommissioner() {
  return app.session?.user?.role === COMMISSIONER_ROLE;
}

// A GP reviewer reads referrals from the server; one with no other role reads no plan.
export function isReviewer() {
  const user = app.session?.user;
  return !!user && (user.role === 'gp_reviewer' || !!user.roles?.includes('gp_reviewer'));
}

// Only these users read plans, so only their tablets sync.
export function syncsPlans() {
  return !isEmergencyClinician() && !isCommissioner() && app.session?.user?.role !== 'gp_reviewer';
}

// An MDT member (often of another organisation): invited to MDT meetings, a virtual
// clinic's specialist.
export function isMdtMember() {
  const user = app.session?.user;
  return !!user && (user.role === 'mdt_member' || !!user.roles?.includes('mdt_member'));
}

export function isCaseManager() {
  const user = app.session?.user;
  return !!user && (user.role === 'case_manager' || !!user.roles?.includes('case_manager'));
}

export function lockState(): Partial<LockState> & { has_pin: boolean; unlocked: boolean } {
  return app.rf ? app.rf.lockState() : { has_pin: false, unlocked: false };
}
