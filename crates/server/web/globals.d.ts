// What the staff pages' modules share through `window` (for the modules
// loaded as separate scripts, and for the browser tests), for the type
// check (tsc -p crates/server/web; see scripts/web_check.sh). Not served
// to browsers as code: types only.

export {};

declare global {
  interface Window {
    /** chatdesk.js: the agent desktop's chat, email and text panels. */
    chatDesk?: {
      /** The live panel of a written contact (kept across the card's phases). */
      panel(contact: number, phase: 'offered' | 'active' | 'wrap_up', agentId: number): HTMLElement;
      forget(contact: number): void;
      /** Messages not yet seen, over every panel. */
      unreadTotal(): number;
    };
    /** agent.js: a short chime (chatdesk.js chimes for a patient's message). */
    chime?: () => void;
    /** softphone.js: the browser phone, for the tests and for support. */
    softphone?: {
      on: boolean;
      muted: boolean;
      status: { state: string; [more: string]: any };
      [more: string]: any;
    };
    /** chat.js (the patient's chat page): read-only state for the tests. */
    __chat?: { readonly lastSeq: number; readonly connected: boolean; readonly messages: object[] };
  }
}

declare global {
  /**
   * One of the shapes of a union (an externally tagged enum in the API,
   * `{question: …} | {ended: …}`) as one object whose every member may be
   * there: for code that tells them apart by which member is present.
   */
  type OneOf<U> = {
    [K in U extends unknown ? keyof U : never]?: U extends { [P in K]?: infer V } ? V : never;
  };
}
