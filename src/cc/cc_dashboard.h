/* cc_dashboard: the CC's status pages for people and their JSON data
 * (PROTOCOL.md, "Operations"; docs/operations.md).
 *
 * HTML, compiled into the binary (cmake/st_embed.cmake), the same shell page
 * at every page address; its script reads the JSON routes below:
 *   GET /dashboard                the overview
 *   GET /dashboard/targets/:id    one target
 *   GET /dashboard/leaderboard    the donor and team leaderboards (from
 *                                 the /leaderboard routes, cc_donors.c)
 *   GET /dashboard/assets/:name   the page's script, styles and chart library
 * JSON, for the page and the CLI (`siegetank status`):
 *   GET /status/overview          SCVs, targets, engines and totals
 *   GET /status/targets/:id       one target and its streams
 *   GET /status/history           the system's work per minute (24 h)
 *   GET /status/history/:id       one target's
 * Figures come from memory: the latest survey (cc_survey.h) and the
 * history (cc_history.h); a target's streams from its shards, asked when
 * the target is viewed and kept briefly (cc_survey_streams). Without a token only public targets are shown;
 * with a manager's token also that manager's own targets (an admin's: all).
 * SCV figures and totals count all work, private targets included, as
 * numbers only. Nothing else about a private target, and no secret (token,
 * key, password, donor), is in any page or reply. */
#ifndef ST_CC_DASHBOARD_H
#define ST_CC_DASHBOARD_H

#include "runtime/server.h"

int cc_dashboard_routes(struct server *s); /* 0 or -1 */

#endif
