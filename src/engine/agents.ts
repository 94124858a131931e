import type { AgentHeartbeat, Bus, Unsubscribe } from '../bus/bus.port.js';

export interface AgentView extends AgentHeartbeat {
  /** `online` while heartbeats arrive; `leaving` after an agent's goodbye. */
  status: 'online' | 'leaving';
}

/**
 * The live agents, as their heartbeats tell. An agent is forgotten when it says it leaves (after it has
 * been shown as leaving for one interval) or when no heartbeat came for three intervals (it died).
 */
export class AgentDirectory {
  private readonly agents = new Map<string, AgentHeartbeat>();
  private readonly unsubscribe: Unsubscribe;

  constructor(
    bus: Bus,
    private readonly intervalMs: number,
    private readonly now: () => number = Date.now,
  ) {
    this.unsubscribe = bus.subscribeHeartbeats((heartbeat) => {
      const known = this.agents.get(heartbeat.agentId);
      // Heartbeats of one agent may overtake each other; a goodbye is final.
      if (known && (known.at > heartbeat.at || (known.leaving && !heartbeat.leaving))) return;
      this.agents.set(heartbeat.agentId, { ...heartbeat, at: this.now() });
    });
  }

  /** Live agents, by id. */
  list(): AgentView[] {
    const now = this.now();
    const views: AgentView[] = [];
    for (const [id, agent] of this.agents) {
      const age = now - agent.at;
      if ((agent.leaving && age > this.intervalMs) || age > 3 * this.intervalMs) {
        this.agents.delete(id);
        continue;
      }
      views.push({ ...agent, status: agent.leaving ? 'leaving' : 'online' });
    }
    return views.sort((a, b) => (a.agentId < b.agentId ? -1 : 1));
  }

  close(): void {
    this.unsubscribe();
  }
}
