// The example client against a real durable server: internal/orpcserver,
// an executor on a SQLite file with the tasks greet ({name} -> "hello,
// <name>") and fail, serving package server's JSON API. DURABLE_ORPC_SERVER
// names its binary (.ci/run builds it); without it the test builds it.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, execFileSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { durableClient, DurableError } from './client.js'

const token = 'openapi-example-token-0123456789'
const repo = resolve(import.meta.dirname, '..', '..', '..')
let dir: string
let server: ChildProcess
let client: ReturnType<typeof durableClient>

function startDurable(): Promise<{ proc: ChildProcess; url: string }> {
  let bin = process.env.DURABLE_ORPC_SERVER
  if (!bin) {
    bin = join(dir, 'orpcserver')
    execFileSync('go', ['build', '-o', bin, './internal/orpcserver'], { cwd: repo, stdio: 'inherit' })
  }
  const proc = spawn(bin, ['-db', join(dir, 'example.db'), '-token', token], { stdio: ['pipe', 'pipe', 'inherit'] })
  return new Promise((ok, fail) => {
    let out = ''
    proc.on('exit', (code) => fail(new Error(`orpcserver exited with ${code}`)))
    proc.stdout!.on('data', (b) => {
      out += b
      const m = /listening (http:\/\/\S+)/.exec(out)
      if (m) ok({ proc, url: m[1] })
    })
  })
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'durable-openapi-'))
  const started = await startDurable()
  server = started.proc
  client = durableClient(started.url, token)
})

after(async () => {
  if (server) {
    server.removeAllListeners('exit')
    const exited = new Promise((ok) => server.on('exit', ok))
    server.stdin!.end()
    await exited
  }
  rmSync(dir, { recursive: true, force: true })
})

test('enqueue, then wait for the output', async () => {
  const id = await client.enqueue('greet', { name: 'Ada' }, { priority: 2 })
  const x = await client.wait(id)
  assert.equal(x.status, 'completed')
  assert.equal(x.output, 'hello, Ada')
  assert.equal(x.priority, 2)
  assert.equal(x.queue, 'default')
})

test('an idempotency key gives the same execution', async () => {
  const a = await client.enqueue('greet', { name: 'Bo' }, { idempotencyKey: 'order-17' })
  const b = await client.enqueue('greet', { name: 'Bo' }, { idempotencyKey: 'order-17' })
  assert.equal(a, b)
})

test('a failed execution carries its error', async () => {
  const x = await client.wait(await client.enqueue('fail', 'card declined'))
  assert.equal(x.status, 'failed')
  assert.equal(x.error?.message, 'card declined')
})

test('a paused queue holds its executions until resumed', async () => {
  const paused = await client.pauseQueue('default')
  assert.equal(paused.paused, true)
  const id = await client.enqueue('greet', { name: 'held' })
  assert.equal((await client.get(id)).status, 'ready')
  await client.resumeQueue('default')
  assert.equal((await client.wait(id)).status, 'completed')
})

test('errors are problems naming what was wrong', async () => {
  await assert.rejects(client.enqueue('no-such-task', {}), (err: unknown) => {
    assert.ok(err instanceof DurableError)
    assert.equal(err.status, 404)
    assert.equal(err.problem.type, 'urn:durable:problem:unknown_task')
    assert.equal(err.problem.field, 'task')
    return true
  })
  await assert.rejects(client.enqueue('greet', { name: 'x' }, { priority: 10 }), (err: unknown) => {
    assert.ok(err instanceof DurableError)
    assert.equal(err.status, 400)
    assert.equal(err.problem.field, 'priority')
    return true
  })
  await assert.rejects(client.get('no-such-execution'), (err: unknown) => err instanceof DurableError && err.status === 404)
})
