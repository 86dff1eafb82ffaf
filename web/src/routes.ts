// Routing: which screen the address shows.
//
//   #/                      the caseload (emergency clinicians: the summary lookup;
//                           commissioners: the scheme's figures, whatever the address)
//   #/scheme                running the scheme (case managers)
//   #/discharge             discharges and the over-75 register (case managers)
//   #/mdt                   the MDT meetings an MDT member is invited to
//   #/clinics[/<id>[/letter/<patient>/<gp|patient>]]
//                           virtual clinics (case managers; MDT members as specialists)
//   #/plan/<id>             the plan editor
//   #/plan/<id>/summary     its emergency summary
//   #/plan/<id>/print       printing the red folder for the home
//   #/plan/<id>/check       checking a paper copy
//   #/referrals[/<id>]      referral peer review (case managers, GP reviewers, whose only
//                           screen it is, and commissioners)
//
// A new top-level screen is one more entry in SCREENS.

import { h } from './dom.js';
import { app, core, isCaseManager, isCommissioner, isEmergencyClinician, isMdtMember, isReviewer, lockState, main, show, syncsPlans } from './shell.js';
import { metricsSection, renderClinics } from './clinics.js';
import { renderCaseload } from './caseload.js';
import { renderDischarge, renderMyMdt } from './discharge.js';
import { renderEmergency } from './emergency.js';
import { renderPlan } from './plan.js';
import { renderCheck, renderPrint, renderSummary } from './print.js';
import { renderReferrals } from './referrals.js';
import { type SchemeContext, renderScheme } from './scheme.js';
import { apiRequest, enter } from './session.js';

/** A screen reached by the first part of the address. */
interface Screen {
  /** Whether the signed-in user may open it from this address (`parts`: the address
   * split at `/`, decoded); when not, the caseload is shown. */
  allowed(parts: string[]): boolean;
  render(parts: string[]): void;
}

// The screens under a plan, by the address's third part; anything else is the plan
// itself. A Map, so an address naming an Object property finds nothing.
const PLAN_SCREENS = new Map<string, (id: string) => void>([
  ['summary', renderSummary],
  ['print', (id) => renderPrint(id)],
  ['check', renderCheck],
]);

const SCREENS = new Map<string, Screen>([
  ['scheme', { allowed: isCaseManager, render: renderSchemeView }],
  ['discharge', { allowed: isCaseManager, render: () => renderOnline('discharge', renderDischarge) }],
  ['mdt', { allowed: isMdtMember, render: () => renderOnline('my-mdt', renderMyMdt) }],
  ['clinics', { allowed: () => isCaseManager() || isMdtMember(), render: (parts) => renderClinicsView(parts.slice(1)) }],
  ['referrals', {
    allowed: () => isCaseManager() || isReviewer() || isCommissioner(),
    render: (parts) => renderReferralsView(parts[1] ?? null),
  }],
  ['plan', {
    allowed: (parts) => !!parts[1],
    render: (parts) => (PLAN_SCREENS.get(parts[2]) ?? renderPlan)(parts[1]),
  }],
]);

export function route() {
  if (!app.rf) return;
  if (!lockState().unlocked || !app.session) {
    enter();
    return;
  }
  if (isEmergencyClinician()) {
    if (app.view?.name !== 'emergency') renderEmergency();
    main().focus({ preventScroll: true });
    return;
  }
  const parts = location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  const screen = SCREENS.get(parts[0]);
  // A GP reviewer with no other role has referrals only; a commissioner has the scheme's
  // figures and the referral report.
  if (app.session.user.role === 'gp_reviewer') renderReferralsView(parts[0] === 'referrals' ? parts[1] ?? null : null);
  else if (isCommissioner() && parts[0] !== 'referrals') renderSchemeView();
  else if (screen?.allowed(parts)) screen.render(parts);
  else renderCaseload();
  main().focus({ preventScroll: true });
}

// The scheme's screens keep their own state (tabs, forms), so a route to the screen
// already on show leaves it as it is.
function renderSchemeView(): void {
  if (app.view?.name === 'scheme') return;
  const root = h('div', { class: 'scheme', testid: 'scheme' });
  show(root);
  app.view = { name: 'scheme' };
  renderScheme(root, {
    request: apiRequest,
    commissioner: isCommissioner(),
    openPlan: (id) => { location.hash = `#/plan/${encodeURIComponent(id)}`; },
  });
  if (isCommissioner()) {
    root.prepend(h('a', { href: '#/referrals', class: 'button secondary', testid: 'nav-referrals' }, 'Referral peer review'));
    root.append(metricsSection({ request: apiRequest }));
  }
}

// Virtual clinics (web/src/clinics.ts): online only, read from the server.
function renderClinicsView(parts: string[]): void {
  const root = h('div', { class: 'scheme clinics', testid: 'clinics' });
  show(root);
  app.view = { name: 'clinics' };
  renderClinics(root, {
    request: apiRequest,
    practice: isCaseManager(),
    openPlan: (id) => { location.hash = `#/plan/${encodeURIComponent(id)}`; },
    go: (to) => { location.hash = `#/clinics${to.map((p) => `/${encodeURIComponent(p)}`).join('')}`; },
  }, parts);
}

// A scheme screen of web/src/discharge.ts: online only, read from the server.
function renderOnline(name: string, render: (root: HTMLElement, ctx: SchemeContext) => void): void {
  const root = h('div', { class: 'scheme', testid: name });
  show(root);
  app.view = { name };
  render(root, {
    request: apiRequest,
    commissioner: false,
    openPlan: (id) => { location.hash = `#/plan/${encodeURIComponent(id)}`; },
  });
}

// Referral peer review (web/src/referrals.ts): online only, read from the server.
function renderReferralsView(openId: string | null): void {
  const root = h('div', { class: 'referrals', testid: 'referrals' });
  show(root);
  app.view = { name: 'referrals' };
  renderReferrals(root, {
    request: apiRequest,
    referrer: isCaseManager(),
    reviewer: isReviewer(),
    commissioner: isCommissioner(),
    caseload: () => (syncsPlans() ? core().caseload() : []),
    openId,
    open: (id) => { location.hash = id ? `#/referrals/${encodeURIComponent(id)}` : '#/referrals'; },
  });
}
