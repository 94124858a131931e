/** Who is asking. `id` owns what it submits. */
export interface Principal {
  id: string;
  roles: readonly ('viewer' | 'runner' | 'admin')[];
  /** Where the request came from (client address, `cli`), for the audit log. */
  source?: string;
}

/** Whether `principal` may see a resource owned by `owner`; anything else answers 404 like a missing id. */
export function canSee(principal: Principal, owner: string): boolean {
  return owner === principal.id || principal.roles.includes('admin');
}
