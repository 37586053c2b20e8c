import { z } from 'zod';
import { RegionCodeSchema, regionWithin } from '../../domain/agencies';
import { HouseholdSchema, ReferralSchema, type Household, type Referral } from '../../domain/journey/state';

/**
 * Bulk referral files: CSV (header row, RFC 4180 quoting) or JSON lines, one household per row, with
 * the columns below. Rows are validated one by one; the report names each bad row and field.
 */
export const IMPORT_COLUMNS = [
  'idNumber',
  'headName',
  'regionCode',
  'phone',
  'address',
  'source',
  'referrer',
  'externalRef',
  'note',
] as const;
export const MAX_IMPORT_ROWS = 50_000;
/** 50,000 rows of every column fit well below this. */
export const MAX_IMPORT_BYTES = 25 * 1024 * 1024;

/**
 * The file as its identity sees it: without a BOM, with LF line ends, no trailing whitespace on a
 * line and no trailing blank lines. The same rows saved by another editor are the same job.
 */
export function normalisedContent(text: string): string {
  return text
    .replace(/^\uFEFF/, '')
    .split(/\r\n|\r|\n/)
    .map((line) => line.trimEnd())
    .join('\n')
    .replace(/\n+$/, '');
}

export type ImportFormat = 'csv' | 'jsonl';

export function formatOf(contentType: string | undefined): ImportFormat | null {
  const t = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (t === 'text/csv') return 'csv';
  if (['application/x-ndjson', 'application/jsonl', 'application/x-jsonlines'].includes(t)) return 'jsonl';
  return null;
}

/** RFC 4180: quoted fields may hold commas, quotes ("") and line breaks. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  const src = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text; // Excel's BOM
  for (let i = 0; i < src.length; i++) {
    const ch = src[i]!;
    if (quoted) {
      if (ch === '"' && src[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"' && field === '') quoted = true;
    else if (ch === ',') {
      row.push(field);
      field = '';
    } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && src[i + 1] === '\n') i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else field += ch;
  }
  if (field !== '' || row.length) {
    row.push(field);
    rows.push(row);
  }
  return rows.filter((r) => !(r.length === 1 && r[0]!.trim() === ''));
}

export interface ParsedRow {
  rowNo: number;
  record: Record<string, unknown> | null;
  errors: Array<{ path: string; message: string }>;
}

/** Splits a file into raw records, numbered from 1 (the CSV header is not a row). */
export function readRecords(text: string, format: ImportFormat): ParsedRow[] | { fileError: string } {
  if (format === 'jsonl') {
    return text
      .split(/\r?\n/)
      .map((line, i) => ({ line, rowNo: i + 1 }))
      .filter(({ line }) => line.trim() !== '')
      .map(({ line, rowNo }) => {
        try {
          const v = JSON.parse(line);
          if (v && typeof v === 'object' && !Array.isArray(v)) return { rowNo, record: v, errors: [] };
          return { rowNo, record: null, errors: [{ path: '', message: 'each line must be a JSON object' }] };
        } catch {
          return { rowNo, record: null, errors: [{ path: '', message: 'not valid JSON' }] };
        }
      });
  }
  const [header, ...rows] = parseCsv(text);
  if (!header) return { fileError: 'the file is empty' };
  const cols = header.map((h) => h.trim());
  const unknown = cols.filter((c) => !(IMPORT_COLUMNS as readonly string[]).includes(c));
  if (unknown.length)
    return { fileError: `unknown columns: ${unknown.join(', ')} (allowed: ${IMPORT_COLUMNS.join(', ')})` };
  return rows.map((cells, i) => {
    if (cells.length !== cols.length)
      return {
        rowNo: i + 1,
        record: null,
        errors: [{ path: '', message: `has ${cells.length} fields, the header has ${cols.length}` }],
      };
    const record: Record<string, string> = {};
    cols.forEach((c, j) => {
      if (cells[j]!.trim() !== '') record[c] = cells[j]!;
    });
    return { rowNo: i + 1, record, errors: [] };
  });
}

const FlatRowSchema = z.object({
  // Missing required fields are reported by the household schema, next to the row's other errors.
  idNumber: z.string().default(''),
  headName: z.string().default(''),
  regionCode: z.string().default(''),
  phone: z.string().optional(),
  address: z.string().optional(),
  source: z.string().optional(),
  referrer: z.string().optional(),
  externalRef: z.string().optional(),
  note: z.string().optional(),
});

/** A record → the household and referral it refers, or its field errors. */
export function validateRecord(
  record: Record<string, unknown>,
  scope: { region: string; defaultReferrer: string },
): { household: Household; referral: Referral } | { errors: Array<{ path: string; message: string }> } {
  const flat = FlatRowSchema.safeParse(record);
  if (!flat.success)
    return { errors: flat.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })) };
  const f = flat.data;
  const household = HouseholdSchema.safeParse({
    idNumber: f.idNumber.trim().toUpperCase(),
    headName: f.headName,
    regionCode: f.regionCode.trim(),
    phone: f.phone?.trim(),
    address: f.address,
  });
  const referral = ReferralSchema.safeParse({
    source: f.source?.trim() ?? 'agency',
    referrer: f.referrer ?? scope.defaultReferrer,
    externalRef: f.externalRef,
    note: f.note,
  });
  const errors = [
    ...(household.success ? [] : household.error.issues),
    ...(referral.success ? [] : referral.error.issues),
  ].map((i) => ({ path: i.path.join('.'), message: i.message }));
  const region = f.regionCode.trim();
  if (RegionCodeSchema.safeParse(region).success && !regionWithin(region, scope.region))
    errors.push({ path: 'regionCode', message: `is outside your region ${scope.region}` });
  if (errors.length || !household.success || !referral.success) return { errors };
  return { household: household.data, referral: referral.data };
}
