#!/usr/bin/env node
// The reference stack for the caseload benchmark (docs/benchmarks.md): the automerge-repo
// sync server (Repo + NodeWSServerAdapter + NodeFSStorageAdapter) and its client (Repo +
// WebSocketClientAdapter), on the same fixture file as Red Folder. `redfolder-bench`
// (crates/bench) drives this script and measures the server process; nothing here is
// meant to be run by hand except to debug it.
//
//   node reference.mjs load   --fixture caseload.json --dir STORAGE --out docs.json
//   node reference.mjs server --dir STORAGE            (prints "listening on ws://HOST:PORT")
//   node reference.mjs s1s2   --server WS --s1 WS --s2 WS --docs docs.json --visits visits.json
//   node reference.mjs s3     --server WS --docs docs.json --plans 10 --devices 20 --edits 100 --interval 50
//
// Results are single lines "S1 {json}", "S2 {json}", "S3 {json}" on stdout. After "S1"
// the script waits for a line on stdin, so the harness can read the server's memory
// before S2 starts.
//
// Documents are built as the workload says: one change for everything but the reviews
// (`Repo.create(initialValue)`), then one change per review. Strings are scalars
// (ImmutableString) except where Red Folder also keeps collaborative text: review notes
// and exacerbation plans. Plain JavaScript strings would make every string a text
// object, larger documents and a slower reference.

import fs from "node:fs"
import readline from "node:readline"
import { once } from "node:events"
import { performance } from "node:perf_hooks"
import * as A from "@automerge/automerge"
import { Repo } from "@automerge/automerge-repo"
import {
  NodeWSServerAdapter,
  WebSocketClientAdapter,
} from "@automerge/automerge-repo-network-websocket"
import { NodeFSStorageAdapter } from "@automerge/automerge-repo-storage-nodefs"
import { WebSocketServer } from "ws"

const [mode, ...rest] = process.argv.slice(2)
const args = {}
for (let i = 0; i < rest.length; i += 2) args[rest[i].replace(/^--/, "")] = rest[i + 1]

const readJson = file => JSON.parse(fs.readFileSync(file, "utf8"))
const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))
const sameHeads = (a, b) =>
  !!a && !!b && a.length === b.length && [...a].sort().join() === [...b].sort().join()

function scalar(value) {
  if (typeof value === "string") return new A.ImmutableString(value)
  if (Array.isArray(value)) return value.map(scalar)
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, scalar(v)]))
  }
  return value
}

function initialValue(plan) {
  const { reviews: _reviews, ...rest } = plan
  const doc = scalar(rest)
  doc.exacerbation_plans = plan.exacerbation_plans.map(e => ({
    condition: new A.ImmutableString(e.condition),
    plan: e.plan,
  }))
  doc.reviews = []
  return doc
}

function applyReview(doc, review) {
  doc.reviews.push({
    date: new A.ImmutableString(review.date),
    reviewer: new A.ImmutableString(review.reviewer),
    kind: new A.ImmutableString(review.kind),
    notes: review.notes,
  })
  for (const [field, update] of Object.entries(review.updates)) {
    for (const [key, value] of Object.entries(update)) doc[field][key] = scalar(value)
  }
}

function client(url, name) {
  const adapter = new WebSocketClientAdapter(url)
  const repo = new Repo({
    network: [adapter],
    peerId: `${name}-${process.pid}`,
    sharePolicy: async () => true,
  })
  return { repo, adapter }
}

async function until(what, condition, timeoutMs = 120_000) {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(2)
  }
}

async function untilHeads(handle, heads) {
  if (sameHeads(A.getHeads(handle.doc()), heads)) return
  await new Promise(resolve => {
    const check = () => {
      if (sameHeads(A.getHeads(handle.doc()), heads)) {
        handle.off("change", check)
        resolve()
      }
    }
    handle.on("change", check)
    check()
  })
}

async function load() {
  const repo = new Repo({
    storage: new NodeFSStorageAdapter(args.dir),
    network: [],
    peerId: "loader",
  })
  const docs = []
  for (const plan of readJson(args.fixture).plans) {
    const handle = repo.create(initialValue(plan))
    for (const review of plan.reviews) handle.change(d => applyReview(d, review))
    docs.push({
      id: plan.id,
      url: handle.url,
      heads: A.getHeads(handle.doc()),
      saved_bytes: A.save(handle.doc()).byteLength,
    })
  }
  // Saves are throttled (100 ms): a throttled save of an older state that lands after
  // flush() can replace the stored document, so let them settle first, then check.
  await sleep(1000)
  await repo.flush()
  await sleep(500)
  await repo.shutdown()
  const check = new Repo({
    storage: new NodeFSStorageAdapter(args.dir),
    network: [],
    peerId: "loader-check",
  })
  for (const d of docs) {
    const handle = await check.find(d.url)
    if (!sameHeads(A.getHeads(handle.doc()), d.heads)) {
      throw new Error(`plan ${d.id} was not stored completely`)
    }
  }
  await check.shutdown()
  fs.writeFileSync(args.out, JSON.stringify({ docs }))
}

async function server() {
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 })
  await once(wss, "listening")
  const repo = new Repo({
    network: [new NodeWSServerAdapter(wss)],
    storage: new NodeFSStorageAdapter(args.dir),
    peerId: "reference-server",
    // A sync server answers requests; it does not announce documents to peers.
    sharePolicy: async () => false,
  })
  console.log(`listening on ws://127.0.0.1:${wss.address().port}`)
  const stop = async () => {
    await repo.shutdown()
    process.exit(0)
  }
  process.on("SIGTERM", stop)
  process.on("SIGINT", stop)
}

async function s1s2() {
  const docs = readJson(args.docs).docs
  const input = readline.createInterface({ input: process.stdin })
  const lines = input[Symbol.asyncIterator]()

  // S1: a new device with an empty store obtains every plan.
  let t0 = performance.now()
  const device1 = client(args.s1, "device-1")
  const handles = await Promise.all(docs.map(d => device1.repo.find(d.url)))
  await Promise.all(handles.map((h, i) => untilHeads(h, docs[i].heads)))
  const s1Seconds = (performance.now() - t0) / 1000
  console.log(`S1 ${JSON.stringify({ seconds: s1Seconds, plans: docs.length })}`)
  await lines.next()

  // S2: the first device goes offline; a second appends one review to each visited plan.
  device1.adapter.disconnect()
  const device2 = client(args.server, "device-2")
  const byId = new Map(docs.map(d => [d.id, d]))
  const visits = readJson(args.visits).visits
  let changeBytes = 0
  const edited = []
  for (const visit of visits) {
    const handle = await device2.repo.find(byId.get(visit.plan_id).url)
    handle.change(d => applyReview(d, visit.review))
    changeBytes += A.getLastLocalChange(handle.doc()).byteLength
    edited.push({ index: docs.indexOf(byId.get(visit.plan_id)), handle })
  }
  // Until the server reports holding every new change.
  await until("the server to hold the home visits", () => {
    const peer = device2.repo.peers[0]
    const storageId = peer && device2.repo.getStorageIdOfPeer(peer)
    return (
      storageId &&
      edited.every(({ handle }) =>
        sameHeads(handle.getSyncInfo(storageId)?.lastHeads, handle.heads()),
      )
    )
  })
  const expected = edited.map(({ index, handle }) => ({ index, heads: A.getHeads(handle.doc()) }))
  await device2.repo.shutdown()

  // The first device reconnects (through the harness's byte-counting proxy) and catches up.
  t0 = performance.now()
  device1.adapter.url = args.s2
  device1.adapter.connect(device1.adapter.peerId, device1.adapter.peerMetadata)
  await Promise.all(expected.map(({ index, heads }) => untilHeads(handles[index], heads)))
  const s2Seconds = (performance.now() - t0) / 1000
  console.log(
    `S2 ${JSON.stringify({ seconds: s2Seconds, change_bytes: changeBytes, changes: visits.length })}`,
  )
  await device1.repo.shutdown()
  input.close()
}

async function s3() {
  const docs = readJson(args.docs).docs.slice(0, Number(args.plans ?? 10))
  const deviceCount = Number(args.devices ?? 20)
  const edits = Number(args.edits ?? 100)
  const interval = Number(args.interval ?? 50)
  const devices = []
  for (let i = 0; i < deviceCount; i++) {
    const device = client(args.server, `s3-device-${i}`)
    const handles = await Promise.all(docs.map(d => device.repo.find(d.url)))
    await Promise.all(handles.map((h, j) => untilHeads(h, docs[j].heads)))
    devices.push({ ...device, handles })
    if (process.env.BENCH_DEBUG) console.error(`device ${i} synced`)
  }
  // seen[edit][device]: when that device first held the edit.
  const pending = new Map()
  const seen = []
  const sent = []
  devices.slice(1).forEach((device, d) => {
    device.handles.forEach(handle => {
      handle.on("change", () => {
        const doc = handle.doc()
        for (const [hash, e] of pending) {
          if (seen[e][d] === undefined && A.hasHeads(doc, [hash])) {
            seen[e][d] = performance.now()
          }
        }
      })
    })
  })
  const editor = devices[0]
  for (let e = 0; e < edits; e++) {
    const handle = editor.handles[e % docs.length]
    seen.push(new Array(deviceCount - 1).fill(undefined))
    sent.push(performance.now())
    handle.change(d => {
      d.preferences.preferred_place_of_care = new A.ImmutableString(`home (visit ${e})`)
    })
    pending.set(A.getHeads(handle.doc())[0], e)
    await sleep(interval)
  }
  await until(
    "every device to see every edit",
    () => seen.every(row => row.every(t => t !== undefined)),
    30_000,
  )
  const latencies = seen.map((row, e) => Math.max(...row) - sent[e])
  console.log(`S3 ${JSON.stringify({ latencies_ms: latencies })}`)
  for (const device of devices) await device.repo.shutdown()
}

const modes = { load, server, s1s2, s3 }
if (!modes[mode]) {
  console.error("usage: node reference.mjs load|server|s1s2|s3 [--flag value]...")
  process.exit(2)
}
await modes[mode]()
if (mode !== "server") process.exit(0)
