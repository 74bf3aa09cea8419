/**
 * `npm run schema`: writes schemas/report.schema.json from src/report/report-schema.ts.
 * src/report/report-schema.test.ts fails when the committed file differs from what this writes.
 */
import { fileURLToPath } from "node:url";
import { reportJsonSchemaText } from "../src/report/report-schema.ts";
import { writeFileAtomic } from "../src/util/atomic-write.ts";

const out = fileURLToPath(new URL("../schemas/report.schema.json", import.meta.url));
await writeFileAtomic(out, reportJsonSchemaText());
process.stdout.write(`wrote ${out}\n`);
