// A client of durable's JSON API for a TypeScript app: every path, body
// and answer is typed from the OpenAPI document the server serves
// (GET /v1/openapi.json; server/openapi.json in the repository), which
// `npm run generate` turns into src/durable-api.d.ts with openapi-typescript.
import createClient from 'openapi-fetch'
import type { components, paths } from './durable-api.js'

export type Execution = components['schemas']['Execution']
export type Problem = components['schemas']['Problem']

// DurableError is an answer of the API that is not a success: its
// problem (RFC 9457) names the kind of error and, for bad input, the field.
export class DurableError extends Error {
  constructor(readonly status: number, readonly problem: Problem) {
    super(`${problem.title}: ${problem.detail ?? ''} (${problem.type})`)
  }
}

// durableClient calls the API at baseUrl with the bearer token.
export function durableClient(baseUrl: string, token: string) {
  const api = createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${token}` } })

  // check returns an answer's data, or throws its problem.
  function check<T>(r: { data?: T; error?: unknown; response: Response }): T {
    if (r.data === undefined) {
      throw new DurableError(r.response.status, r.error as Problem)
    }
    return r.data
  }

  return {
    // enqueue stores an execution of a task registered with the server's
    // executor and returns its id.
    async enqueue(task: string, input: unknown, options: { idempotencyKey?: string; queue?: string; priority?: number } = {}) {
      const r = await api.POST('/v1/executions', {
        body: { task, input, idempotency_key: options.idempotencyKey, queue: options.queue, priority: options.priority },
      })
      return check(r).id
    },
    // wait waits for an execution to finish (a bounded long poll; call
    // it again while the answer is not finished).
    async wait(id: string, timeoutMs = 30_000): Promise<Execution> {
      const r = await api.GET('/v1/executions/{id}/wait', {
        params: { path: { id }, query: { timeout_ms: timeoutMs } },
      })
      return check(r)
    },
    async get(id: string): Promise<Execution> {
      return check(await api.GET('/v1/executions/{id}', { params: { path: { id } } }))
    },
    async cancel(id: string): Promise<Execution> {
      return check(await api.POST('/v1/executions/{id}/cancel', { params: { path: { id } } }))
    },
    async pauseQueue(name: string) {
      return check(await api.POST('/v1/queues/{name}/pause', { params: { path: { name } } }))
    },
    async resumeQueue(name: string) {
      return check(await api.POST('/v1/queues/{name}/resume', { params: { path: { name } } }))
    },
  }
}
