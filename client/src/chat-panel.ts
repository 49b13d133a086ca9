/**
 * The text chat: a log of received lines and a form to send one. Sending
 * goes through the channel; our own lines appear when the server echoes
 * them back (`message` is broadcast to everyone, sender included).
 */
import { colorForSession } from './player-color.ts';

/** Longest chat line accepted from the input, in characters. */
export const MAX_CHAT_LENGTH = 500;

/** A chat line as shown: who (session and name at receipt time) and what. */
export interface ChatLine {
  sessionId: string;
  displayName: string;
  body: string;
}

/** The chat panel's DOM, wired to a send function. */
export class ChatPanel {
  /**
   * @param log element the lines are appended to
   * @param form the form holding `input`; submitting it sends
   * @param input the text field
   * @param send called with the trimmed line (1..MAX_CHAT_LENGTH chars)
   */
  constructor(
    private readonly log: HTMLElement,
    form: HTMLFormElement,
    private readonly input: HTMLInputElement,
    send: (body: string) => void,
  ) {
    input.maxLength = MAX_CHAT_LENGTH;
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const body = input.value.trim().slice(0, MAX_CHAT_LENGTH);
      if (!body) return;
      send(body);
      input.value = '';
    });
    // Keep typing in chat from reaching the scene's key handlers.
    input.addEventListener('keydown', (event) => event.stopPropagation());
  }

  /** Enables or disables the input (disabled until we are in the room). */
  setEnabled(enabled: boolean): void {
    this.input.disabled = !enabled;
  }

  /** Appends a line and scrolls to it. */
  append(line: ChatLine): void {
    const row = document.createElement('div');
    row.className = 'chat-line';
    row.dataset['sessionId'] = line.sessionId;
    const who = document.createElement('span');
    who.className = 'chat-who';
    who.style.color = colorForSession(line.sessionId);
    who.textContent = line.displayName || 'Someone';
    const what = document.createElement('span');
    what.className = 'chat-body';
    what.textContent = line.body;
    row.append(who, what);
    this.log.append(row);
    this.log.scrollTop = this.log.scrollHeight;
  }
}
