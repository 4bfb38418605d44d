#pragma once

/// The JSON of flowgate's public answers, shared by the CLI's `--json`
/// output and the HTTP API (api/http_api.hpp), so both print the same
/// fields. Stored JSON texts (inputs, outputs, configs, payloads) are
/// embedded as JSON values, or as a string when they do not parse. Times
/// are RFC 3339 UTC; an unset time is "-" (`format_time`).

#include "messages/gateway_messages.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace flowgate::views {

/// `2026-12-02T07:00:00Z`, or "-" for 0 (unset).
std::string format_time(int64_t ms);

boost::json::object run(const run_record& r);
boost::json::array runs(const std::vector<run_record>& xs);
boost::json::array history(const std::vector<history_record>& xs);
/// The ledger's step attempts of a run.
boost::json::array attempts(const std::vector<attempt_record>& xs);
boost::json::object signal(int64_t run, const signal_accepted& s);
/// The run as it stands and whether the cancel ended it now.
boost::json::object cancel(const cancel_outcome& c);
/// `{"run", "resumed": true}`, or not resumed with used, limit and period.
boost::json::object resume(int64_t run, const resume_outcome& r);

boost::json::object tenant(const tenant_record& t);
boost::json::array tenants(const std::vector<tenant_record>& xs);
boost::json::array stats(const std::vector<tenant_stats>& xs);

boost::json::object config_stored(const flowgate::config_stored& c);
boost::json::object config(const config_view& v);
boost::json::object config_activated(const flowgate::config_activated& c);
boost::json::array configs(const std::vector<config_summary>& xs);

boost::json::object subscription_stored(const subscription_record& s);
boost::json::array subscriptions(const std::vector<subscription_record>& xs);
boost::json::object quota(const quota_summary& q);
boost::json::object reconciliation(const usage_reconciliation& r);

/// live, dead (heartbeat older than its TTL) or stopped.
const char* node_state(const node_record& x);
/// `flowgate cluster status`; heartbeat ages against `now_ms`.
boost::json::array nodes(const std::vector<node_record>& xs, int64_t now_ms);

} // namespace flowgate::views
