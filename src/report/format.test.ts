import assert from "node:assert/strict";
import { test } from "node:test";
import { datasetCell, exponential, fixed, pyStr } from "./format.ts";

test("%.4f and Python's non-finite spellings", () => {
  assert.equal(fixed(28390.42653), "28390.4265");
  assert.equal(fixed(0), "0.0000");
  assert.equal(fixed(90, 2), "90.00");
  assert.equal(fixed(Number.NaN), "nan");
  assert.equal(fixed(Number.POSITIVE_INFINITY), "inf");
});

test("%.4E keeps a two-digit exponent like Python", () => {
  assert.equal(exponential(5.0689e14, 4, true), "5.0689E+14");
  assert.equal(exponential(123456, 4, true), "1.2346E+05"); // JS alone gives "1.2346e+5"
  assert.equal(exponential(0.00012, 2), "1.20e-04");
  assert.equal(exponential(1e100, 2), "1.00e+100");
});

test("dataset cells: %9.4f below 100000, %9.2e from there", () => {
  assert.equal(datasetCell(128), " 128.0000");
  assert.equal(datasetCell(99999.5), "99999.5000"); // wider than 9, as in Python
  assert.equal(datasetCell(100000), " 1.00e+05");
  assert.equal(datasetCell(2.5), "   2.5000");
});

test("None for absent values", () => {
  assert.equal(pyStr(undefined), "None");
  assert.equal(pyStr(0), "0");
});
