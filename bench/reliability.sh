#!/usr/bin/env bash
# The reliability scenarios of issue 18 (docs/RELIABILITY.md), each a test that failed on
# the code before it: runs them by name and prints one table row per scenario, then the
# write latencies of 2, 4 and 8 concurrent writers through the server's routes.
#
#   bash bench/reliability.sh
set -uo pipefail
cd "$(dirname "$0")/.."

scenarios=(
    "writers wait (core, 4 connections)|pairlab-core|labels::tests::concurrent_writers_wait_and_never_fail"
    "writers wait (HTTP, 2/4/8 writers)|pairlab-server|tests_access::concurrent_writers_all_succeed"
    "writers wait (4 CLI processes while indexing)|pairlab|labels::concurrent_label_processes_while_indexing_all_succeed"
    "writers wait (4 annotators while a run trains)|pairlab-server|tests_jobs::writers_succeed_while_a_run_trains"
    "kill -9 while training: run marked interrupted|pairlab|runs::a_killed_training_run_is_marked_interrupted"
    "kill -9 mid index, label, split: nothing lost|pairlab|crash::kill_9_mid_index_label_and_split_loses_nothing_acknowledged"
    "nothing escapes the corpus root|pairlab|bad_input::paths_a_corpus_names_never_lead_outside_its_root"
    "a non-manifest is never echoed|pairlab|bad_input::a_file_given_as_manifest_is_never_echoed"
    "label-reports never destroys a file|pairlab|report_labeler::label_reports_refuses_its_input_as_output_and_keeps_outputs_on_failure"
    "searches are bounded (words, characters)|pairlab-server|tests_access::oversized_searches_are_refused"
    "a search over its time budget is stopped|pairlab-core|store::search::tests::a_statement_over_its_budget_is_stopped_and_the_connection_stays_usable"
    "other sites cannot change the library|pairlab-server|tests_access::state_changing_routes_refuse_other_sites"
    "validation list|pairlab|bad_input::requests_and_files_that_would_be_misread_are_refused_clearly"
    "set_label needs its value|pairlab-server|tests_access::set_label_needs_its_value"
    "stale temporary thumbnails cleaned|pairlab|bad_input::stale_temporary_thumbnails_are_cleaned"
    "large PNGs in bounded memory|pairlab|bad_input::large_pngs_are_indexed_in_bounded_memory"
    "an image over the decode budget is an error row|pairlab-core|ingest::media::tests::an_image_needing_more_than_the_budget_is_an_error_row"
    "user accounts and roles|pairlab-server|tests_access::user_accounts_gate_calls_by_role_and_name_the_annotator"
    "durability level (synchronous=FULL)|pairlab-core|store::tests::migrates_fresh_database_and_reopens"
)

cargo test --workspace --no-run -q 2>&1 | tail -3
printf '%-52s %s\n' "scenario" "result"
failed=0
for row in "${scenarios[@]}"; do
    IFS='|' read -r what package test <<<"$row"
    if out=$(cargo test -q -p "$package" -- --exact "$test" 2>&1) && grep -q " 1 passed" <<<"$out"; then
        printf '%-52s %s\n' "$what" "ok"
    else
        printf '%-52s %s\n' "$what" "FAILED ($package $test)"
        failed=$((failed + 1))
    fi
done
echo
echo "write latency through the server's routes (debug build):"
cargo test -q -p pairlab-server -- --exact tests_access::concurrent_writers_all_succeed --nocapture 2>&1 | grep "writers,"
cargo test -q -p pairlab-server -- --exact tests_jobs::writers_succeed_while_a_run_trains --nocapture 2>&1 | grep "writers while"
echo
echo "$(( ${#scenarios[@]} - failed )) passed, $failed failed"
[ "$failed" -eq 0 ]
