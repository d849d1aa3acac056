// The seed's three procedures, called over oRPC's wire protocol with
// @orpc/client's RPCLink, on a real durable server this test starts
// (internal/orpcserver); and a remote task of that server calling an oRPC
// procedure this test serves with @orpc/server.
//
// DURABLE_ORPC_SERVER names the server's binary (.ci/run builds it);
// without it the test builds it with `go build`.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, execFileSync } from 'node:child_process'
import { createHmac, timingSafeEqual } from 'node:crypto'
import { createServer } from 'node:http'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { createORPCClient, ORPCError } from '@orpc/client'
import { RPCLink } from '@orpc/client/fetch'
import { os as orpc } from '@orpc/server'
import { RPCHandler } from '@orpc/server/node'

const token = 'orpc-test-token-0123456789'
const secret = 'orpc-test-secret-0123456789'
const repo = resolve(import.meta.dirname, '..', '..')

let dir, durable, callee, client, calls = []

// verify checks a remote task's signature as remote.Verify does.
function verify(headers, body) {
  const m = /^t=(\d+),v1=([0-9a-f]+)$/.exec(headers['durable-signature'] ?? '')
  if (!m) return false
  const want = createHmac('sha256', secret).update(`${m[1]}.${body}`).digest()
  const got = Buffer.from(m[2], 'hex')
  return got.length === want.length && timingSafeEqual(got, want)
}

async function startCallee() {
  const router = {
    double: orpc.handler(({ input, context }) => {
      calls.push({ input, execution: context.execution, attempt: context.attempt })
      return { n: input.n * 2 }
    }),
  }
  const handler = new RPCHandler(router)
  const server = createServer(async (req, res) => {
    const chunks = []
    for await (const c of req) chunks.push(c)
    const body = Buffer.concat(chunks).toString('utf8')
    if (!verify(req.headers, body)) {
      res.writeHead(401, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ json: { defined: false, code: 'UNAUTHORIZED', status: 401, message: 'bad signature' } }))
      return
    }
    // The body was read: hand it to oRPC again.
    const { Readable } = await import('node:stream')
    const replay = Object.assign(Readable.from([Buffer.from(body)]), {
      method: req.method, url: req.url, headers: req.headers, socket: req.socket,
    })
    const { matched } = await handler.handle(replay, res, {
      prefix: '/rpc',
      context: { execution: req.headers['durable-execution-id'], attempt: Number(req.headers['durable-attempt']) },
    })
    if (!matched) { res.statusCode = 404; res.end() }
  })
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok))
  return server
}

function startDurable(calleeURL) {
  let bin = process.env.DURABLE_ORPC_SERVER
  if (!bin) {
    bin = join(dir, 'orpcserver')
    execFileSync('go', ['build', '-o', bin, './internal/orpcserver'], { cwd: repo, stdio: 'inherit' })
  }
  const proc = spawn(bin, ['-db', join(dir, 'orpc.db'), '-token', token, '-callee', calleeURL, '-secret', secret],
    { stdio: ['pipe', 'pipe', 'inherit'] })
  return new Promise((ok, fail) => {
    let out = ''
    proc.on('exit', (code) => fail(new Error(`orpcserver exited with ${code}`)))
    proc.stdout.on('data', (b) => {
      out += b
      const m = /listening (http:\/\/\S+)/.exec(out)
      if (m) ok({ proc, url: m[1] })
    })
  })
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'durable-orpc-'))
  callee = await startCallee()
  durable = await startDurable(`http://127.0.0.1:${callee.address().port}/rpc`)
  client = createORPCClient(new RPCLink({ url: `${durable.url}/orpc`, headers: { authorization: `Bearer ${token}` } }))
})

after(async () => {
  if (durable) {
    durable.proc.removeAllListeners('exit')
    const exited = new Promise((ok) => durable.proc.on('exit', ok))
    durable.proc.stdin.end()
    await exited
  }
  callee?.close()
  rmSync(dir, { recursive: true, force: true })
})

async function finished(taskId, executionId) {
  for (let i = 0; i < 500; i++) {
    const x = await client.getTaskExecution({ taskId, executionId })
    if (['completed', 'failed', 'timed_out', 'finalize_failed', 'children_failed', 'cancelled'].includes(x.status)) return x
    await new Promise((ok) => setTimeout(ok, 20))
  }
  throw new Error(`execution ${executionId} did not finish`)
}

async function rejects(promise, code, status) {
  await assert.rejects(promise, (err) => {
    assert.ok(err instanceof ORPCError, `${err} is not an ORPCError`)
    assert.equal(err.code, code)
    assert.equal(err.status, status)
    assert.equal(typeof err.message, 'string')
    return true
  })
}

test('enqueueTask then getTaskExecution: the seed shapes', async () => {
  const id = await client.enqueueTask({ taskId: 'greet', input: { name: 'Ada' }, options: { timeoutMs: 5000, retryOptions: { maxAttempts: 2, baseDelayMs: 10 } } })
  assert.equal(typeof id, 'string')
  const x = await finished('greet', id)
  assert.equal(x.status, 'completed')
  assert.equal(x.output, 'hello, Ada')
  assert.deepEqual(x.input, { name: 'Ada' })
  assert.equal(x.taskId, 'greet')
  assert.equal(x.executionId, id)
  assert.equal(x.retryAttempts, 0)
  assert.ok(x.createdAt instanceof Date && x.finishedAt instanceof Date, 'times are Dates')
  assert.ok(x.finishedAt >= x.createdAt)
})

test('a failed execution carries the seed error shape', async () => {
  const id = await client.enqueueTask({ taskId: 'fail', input: 'card declined' })
  const x = await finished('fail', id)
  assert.equal(x.status, 'failed')
  assert.deepEqual(x.error, { errorType: 'generic', message: 'card declined', isRetryable: false, isInternal: false })
})

test('sleeping task: enqueue with its unique id, wake completed and failed', async () => {
  const id = await client.enqueueTask({ taskId: 'approval', input: 'approve-1' })
  const sleeping = await client.getTaskExecution({ taskId: 'approval', executionId: id })
  assert.equal(sleeping.status, 'running')
  assert.equal(sleeping.sleepingTaskUniqueId, 'approve-1')
  const woken = await client.wakeupSleepingTaskExecution({ taskId: 'approval', sleepingTaskUniqueId: 'approve-1', options: { status: 'completed', output: { ok: true } } })
  assert.equal(woken.status, 'completed')
  assert.deepEqual(woken.output, { ok: true })
  assert.equal(woken.executionId, id)
  // Idempotent: a second wake returns the finished execution unchanged.
  const again = await client.wakeupSleepingTaskExecution({ taskId: 'approval', sleepingTaskUniqueId: 'approve-1', options: { status: 'failed', error: { message: 'late' } } })
  assert.equal(again.status, 'completed')

  await client.enqueueTask({ taskId: 'approval', input: 'approve-2' })
  const failed = await client.wakeupSleepingTaskExecution({ taskId: 'approval', sleepingTaskUniqueId: 'approve-2', options: { status: 'failed', error: { message: 'refused' } } })
  assert.equal(failed.status, 'failed')
  assert.equal(failed.error.message, 'refused')
})

test('errors: the seed codes', async () => {
  await rejects(client.enqueueTask({ taskId: 'nope', input: 1 }), 'NOT_FOUND', 404)
  await rejects(client.getTaskExecution({ taskId: 'nope', executionId: 'x' }), 'NOT_FOUND', 404)
  await rejects(client.getTaskExecution({ taskId: 'greet', executionId: 'te_nope' }), 'NOT_FOUND', 404)
  await rejects(client.wakeupSleepingTaskExecution({ taskId: 'approval', sleepingTaskUniqueId: 'nope', options: { status: 'completed' } }), 'NOT_FOUND', 404)
  await rejects(client.wakeupSleepingTaskExecution({ taskId: 'greet', sleepingTaskUniqueId: 'approve-1', options: { status: 'completed' } }), 'BAD_REQUEST', 400)
  await rejects(client.enqueueTask({ taskId: 'greet', input: { name: 5 } }), 'BAD_REQUEST', 400)
  await rejects(client.enqueueTask({ taskId: 'greet', input: { name: 'x' }, options: { timeoutMs: 0 } }), 'BAD_REQUEST', 400)
  const anonymous = createORPCClient(new RPCLink({ url: `${durable.url}/orpc` }))
  await rejects(anonymous.enqueueTask({ taskId: 'greet', input: { name: 'x' } }), 'UNAUTHORIZED', 401)
})

test('remote task: durable calls an oRPC procedure, signed', async () => {
  const id = await client.enqueueTask({ taskId: 'double', input: { n: 21 } })
  const x = await finished('double', id)
  assert.equal(x.status, 'completed', JSON.stringify(x.error))
  assert.deepEqual(x.output, { n: 42 })
  const call = calls.find((c) => c.execution === id)
  assert.ok(call, 'the procedure saw the execution id')
  assert.deepEqual(call.input, { n: 21 })
  assert.equal(call.attempt, 0)
})
