import type { AppConfig } from '../app-config.ts';
import type { AccountRef, AccountTokenVerifier } from '../auth/account-ref.ts';
import { ErrorCodes, PlexusError } from '../errors.ts';
import type { HttpRequest, HttpResponse } from '../transport/http-types.ts';
import { bearerToken, json, jsonError } from './router.ts';
import type { Router } from './router.ts';

/**
 * Reticulum's admin-only app config API (`RetWeb.Api.V1.AppConfigController`
 * behind `:admin_required`, reference/reticulum.md §9):
 * - `GET /api/v1/app_configs` → 200, the whole config nested
 *   (`{features: {max_room_size, default_room_size, disable_sign_up, ...}, ...}`);
 * - `POST /api/v1/app_configs` with a nested JSON object whose leaves are
 *   the values (`{"features": {"disable_room_creation": true}}`) → 200 with an
 *   empty body, as Reticulum; every node applies it within 2 s
 *   (`APP_CONFIG_CACHE_MS`). A bad body: 400 `bad_json` or 422 `invalid_body`, nothing stored.
 * Both need `Authorization: Bearer <account token>` of an admin account
 * (`accounts.is_admin`, the account that signed in with ADMIN_EMAIL); otherwise 401 `unauthorized`.
 */
export function addAppConfigRoutes(router: Router, deps: { appConfig: AppConfig; accounts?: AccountTokenVerifier }): void {
  async function admin(req: HttpRequest): Promise<AccountRef | HttpResponse> {
    const token = bearerToken(req.headers.authorization);
    if (!token) return jsonError(401, ErrorCodes.HTTP_UNAUTHORIZED, 'Send Authorization: Bearer <account token> of an admin account (the one that signed in with ADMIN_EMAIL).');
    const account = deps.accounts ? await deps.accounts.verify(token) : null;
    if (!account) return jsonError(401, ErrorCodes.HTTP_UNAUTHORIZED, 'The token is not a valid account token (expired, revoked or a disabled account); sign in again.');
    if (!account.isAdmin) return jsonError(401, ErrorCodes.HTTP_UNAUTHORIZED, 'Only admins may read or change the app config.');
    return account;
  }

  router.add('GET', '/api/v1/app_configs', async (req) => {
    const who = await admin(req);
    if ('status' in who) return who;
    return json(200, await deps.appConfig.all());
  });

  router.add('POST', '/api/v1/app_configs', async (req) => {
    const who = await admin(req);
    if ('status' in who) return who;
    let body: unknown;
    try {
      body = JSON.parse(req.body?.toString('utf8') || '');
    } catch {
      return jsonError(400, ErrorCodes.HTTP_BAD_JSON, 'The request body is not JSON; send e.g. {"features": {"disable_room_creation": true}}.');
    }
    try {
      await deps.appConfig.set(body);
    } catch (err) {
      if (err instanceof PlexusError && err.code === ErrorCodes.HTTP_INVALID_BODY) return jsonError(err.status, err.code, err.message);
      throw err;
    }
    return { status: 200, headers: { 'cache-control': 'no-store' }, body: '' };
  });
}
