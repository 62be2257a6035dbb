/** Reads a Server-Sent Events response to its end (or until `stop` says so) into events. */
export interface SseEvent {
  id?: string;
  event: string;
  data: unknown;
}

export async function readEvents(res: Response, stop: (e: SseEvent) => boolean = () => false): Promise<SseEvent[]> {
  const events: SseEvent[] = [];
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += decoder.decode(value, { stream: true });
    let cut = buf.indexOf('\n\n');
    while (cut !== -1) {
      const block = buf.slice(0, cut);
      buf = buf.slice(cut + 2);
      cut = buf.indexOf('\n\n');
      const e: Partial<SseEvent> & { data?: unknown } = {};
      for (const line of block.split('\n')) {
        if (line.startsWith('id: ')) e.id = line.slice(4);
        else if (line.startsWith('event: ')) e.event = line.slice(7);
        else if (line.startsWith('data: ')) e.data = JSON.parse(line.slice(6));
      }
      if (!e.event) continue;
      events.push(e as SseEvent);
      if (stop(e as SseEvent)) {
        await reader.cancel();
        return events;
      }
    }
  }
  return events;
}
