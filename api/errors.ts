import type { ErrorRequestHandler, Request } from 'express';
import { WorkflowUpdateFailedError, WorkflowNotFoundError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { ZodError } from 'zod';
import { log } from './log';

/** RFC 9457 problem details, the one error shape of the API. */
export interface FieldIssue {
  path: string;
  message: string;
  code: string;
}

export class Problem extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly errors?: FieldIssue[],
    readonly extra?: Record<string, unknown>,
  ) {
    super(message);
  }
}

const titles: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  409: 'Conflict',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

export function zodIssues(err: ZodError, prefix: string[] = []): FieldIssue[] {
  return err.issues.map((i) => ({
    path: [...prefix, ...i.path.map(String)].join('.'),
    message: i.message,
    code: i.code,
  }));
}

/** Business error types raised by workflows (DomainError codes) and the HTTP status each means. */
const statusByFailure: Record<string, number> = {
  invalid_input: 400,
  invalid_form: 400,
  wrong_task_type: 400,
  invalid_measure: 400,
  wrong_workflow: 400,
  forbidden: 403,
  maker_checker: 403,
  task_not_found: 404,
  referral_not_found: 404,
  task_not_open: 409,
  task_claimed: 409,
  case_ended: 409,
  task_not_awaiting_correction: 409,
  already_on_hold: 409,
  not_on_hold: 409,
  referral_closed: 409,
  handled_by_another_region: 409,
  exit_already_proposed: 409,
  not_filed: 409,
  not_in_public_notice: 409,
  not_appealable: 409,
  not_assisting: 409,
  not_in_assistance: 409,
  not_in_gradual_exit: 409,
  no_survey_no_file: 409,
  no_deliberation_no_file: 409,
  no_notice_no_file: 409,
  no_signature_no_file: 409,
  // Everything else a workflow refuses (over_annual_cap, unsupported_action, no_waitlist, ...) is 422.
};

export function problemFromFailure(err: unknown): Problem | undefined {
  const cause = err instanceof WorkflowUpdateFailedError ? err.cause : err;
  if (cause instanceof ApplicationFailure && cause.type) {
    const status = statusByFailure[cause.type] ?? 422;
    const details = cause.details?.[0];
    const errors = Array.isArray(details)
      ? (details as Array<{ path: string[]; message: string; code: string }>).map((d) => ({
          path: d.path.join('.'),
          message: d.message,
          code: d.code,
        }))
      : undefined;
    return new Problem(status, cause.type, cause.message, errors);
  }
  if (err instanceof WorkflowNotFoundError)
    return new Problem(409, 'case_ended', 'the workflow hosting this is no longer running');
  return undefined;
}

export function problemBody(p: Problem, req: Request) {
  return {
    type: `/problems/${p.code}`,
    title: titles[p.status] ?? 'Error',
    status: p.status,
    detail: p.message,
    instance: req.originalUrl,
    requestId: req.requestId,
    ...(p.errors ? { errors: p.errors } : {}),
    ...(p.extra ?? {}),
  };
}

/** What Express, its router and body-parser report (http-errors): a status, and for bodies a type. */
interface HttpError {
  status?: number;
  type?: string;
  expose?: boolean;
  charset?: string;
  encoding?: string;
  limit?: number;
}

/** Client errors raised before a route runs: the request's URL or body, not the server, is at fault. */
function problemFromHttpError(err: unknown): Problem | undefined {
  const e = (err ?? {}) as HttpError;
  switch (e.type) {
    case 'entity.parse.failed':
      return new Problem(400, 'invalid_json', 'the body is not valid JSON');
    case 'entity.too.large':
      // The limit is the route's own (1 MB for JSON, more for an import file).
      return new Problem(
        413,
        'body_too_large',
        e.limit === undefined
          ? 'the body exceeds its size limit'
          : `the body exceeds the limit of ${e.limit} bytes (${+(e.limit / 1_048_576).toFixed(2)} MB)`,
      );
    case 'charset.unsupported':
      return new Problem(415, 'unsupported_charset', `charset "${e.charset}" is not supported: send UTF-8`);
    case 'encoding.unsupported':
      return new Problem(
        415,
        'unsupported_content_encoding',
        `Content-Encoding "${e.encoding}" is not supported: send identity, gzip, deflate or br`,
      );
    case 'request.aborted':
      return new Problem(400, 'request_aborted', 'the client closed the request before its body arrived');
    case 'request.size.invalid':
      return new Problem(400, 'invalid_content_length', 'the body is not as long as its Content-Length says');
  }
  // The router decodes path parameters: a malformed %-escape is a URIError with status 400.
  if (err instanceof URIError && e.status === 400)
    return new Problem(
      400,
      'invalid_url_encoding',
      'the URL holds a malformed percent-encoding (e.g. %E0%A4%A)',
    );
  if (e.status && e.status >= 400 && e.status < 500 && e.expose)
    return new Problem(e.status, 'bad_request', (err as Error).message);
  return undefined;
}

export const errorHandler: ErrorRequestHandler = (err, req, res, next) => {
  if (res.headersSent) return next(err);
  let p: Problem;
  if (err instanceof Problem) p = err;
  else if (err instanceof ZodError)
    p = new Problem(400, 'invalid_input', 'the request does not match its schema', zodIssues(err));
  else {
    p =
      problemFromHttpError(err) ??
      problemFromFailure(err) ??
      new Problem(500, 'internal', 'an unexpected error occurred; quote the request ID');
    if (p.status >= 500)
      log('error', 'request failed', {
        requestId: req.requestId,
        err: err instanceof Error ? err.stack : String(err),
      });
  }
  res.status(p.status).type('application/problem+json').json(problemBody(p, req));
};
