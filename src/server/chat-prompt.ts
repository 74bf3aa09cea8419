/**
 * Chat messages to one prompt. Rendering a tokenizer's Jinja chat_template needs a template engine this
 * project does not ship, so messages are joined in a fixed, documented plain form (docs/serve.md):
 * "<role>: <content>\n" per message, then "assistant:" for the reply. The tokenizer adds BOS when encoding.
 */
export interface ChatMessage {
  role: string;
  content: string;
}

export function renderChatPrompt(messages: readonly ChatMessage[]): string {
  let out = "";
  for (const m of messages) out += `${m.role}: ${m.content}\n`;
  return `${out}assistant:`;
}
