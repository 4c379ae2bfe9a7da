// Writes the Parquet file of the corpus with hyparquet-writer (npm ci in traces/corpus installs it).
//
// Usage: node gen_parquet.mjs OUT.parquet
//
// 1,000,000 rows of a sensor table (id, ts, sensor, value, status) in row groups of 250,000 rows,
// Snappy-compressed (the writer's default). Values come from a seeded generator so the file is the same
// on every run.
import { parquetWriteFile } from 'hyparquet-writer'

const ROWS = 1_000_000
const ROW_GROUP = 250_000

// mulberry32: a small seeded PRNG, so the data does not depend on Math.random.
function rng(seed) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const next = rng(20261128)
const id = new Array(ROWS)
const ts = new Array(ROWS)
const sensor = new Array(ROWS)
const value = new Float64Array(ROWS)
const status = new Array(ROWS)
const statuses = ['ok', 'ok', 'ok', 'ok', 'degraded', 'calibrating', 'offline']
for (let i = 0; i < ROWS; i++) {
  id[i] = BigInt(i)
  ts[i] = BigInt(1_700_000_000_000 + i * 1000 + Math.floor(next() * 1000))
  sensor[i] = `sensor-${String(Math.floor(next() * 5000)).padStart(4, '0')}`
  value[i] = Math.round((20 + 10 * Math.sin(i / 5000) + next() * 4) * 1000) / 1000
  status[i] = statuses[Math.floor(next() * statuses.length)]
}

parquetWriteFile({
  filename: process.argv[2],
  columnData: [
    { name: 'id', data: id, type: 'INT64' },
    { name: 'ts', data: ts, type: 'INT64' },
    { name: 'sensor', data: sensor, type: 'STRING' },
    { name: 'value', data: value, type: 'DOUBLE' },
    { name: 'status', data: status, type: 'STRING' },
  ],
  rowGroupSize: ROW_GROUP,
})
