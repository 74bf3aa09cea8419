import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ConfigError } from "../../../errors.ts";
import { parseMedusaChoices } from "./medusa-choices.ts";

const F = "choices.yaml";

function err(text: string): string {
  try {
    parseMedusaChoices(text, F);
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected ConfigError, got ${e}`);
    return (e as Error).message;
  }
  assert.fail("expected an error");
}

describe("parseMedusaChoices", () => {
  it("accepts trtllm-bench's example tree and reports depth and widths", () => {
    const t = parseMedusaChoices("- [0]\n- [0, 0]\n- [1]\n- [0, 1]\n- [2]\n- [0, 0, 0]\n", F);
    assert.deepEqual(t.paths, [[0], [0, 0], [1], [0, 1], [2], [0, 0, 0]]);
    assert.equal(t.depth, 3);
    assert.deepEqual(t.widthPerDepth, [3, 2, 1]);
  });

  it("accepts block-style nested lists and a chain", () => {
    const t = parseMedusaChoices("- - 0\n- - 0\n  - 0\n", F);
    assert.deepEqual(t.paths, [[0], [0, 0]]);
    assert.equal(t.depth, 2);
  });

  it("names the line and entry of a path whose parent is missing", () => {
    assert.equal(
      err("- [0]\n- [0, 0]\n- [1, 0]\n"),
      `${F}: line 3: entry 3: path [1, 0] has no parent: [1] is missing`,
    );
  });

  it("rejects a negative index with its line", () => {
    assert.equal(err("- [0]\n\n- [-1]\n"), `${F}: line 3: entry 2: index -1 is not a non-negative integer`);
  });

  it("rejects a non-integer index", () => {
    assert.match(err("- [0]\n- [0, 1.5]\n"), /line 2: entry 2: index 1\.5 is not a non-negative integer/);
    assert.match(err("- [a]\n"), /line 1: entry 1: index a is not a non-negative integer/);
  });

  it("rejects a duplicate path, naming both lines", () => {
    assert.equal(err("- [0]\n- [1]\n- [0]\n"), `${F}: line 3: entry 3: path [0] duplicates line 1`);
  });

  it("rejects a document that is not a list, an entry that is not a list, and empty input", () => {
    assert.equal(err("medusa: [0]\n"), `${F}: line 1: expected a list of index paths such as \`- [0, 1]\``);
    assert.equal(err("- [0]\n- 3\n"), `${F}: line 2: entry 2: expected a list of indices such as [0, 1]`);
    assert.equal(err(""), `${F}: line 1: empty: expected a list of index paths`);
    assert.equal(err("- []\n"), `${F}: line 1: entry 1: empty path (the root is implicit)`);
  });

  it("reports YAML syntax errors with a line", () => {
    assert.match(err("- [0]\n- [0, 1\n"), /^choices\.yaml: line \d+: not valid YAML/);
  });
});
