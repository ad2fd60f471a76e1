#!/usr/bin/env node
// Runs real oref0's determine-basal on many CASEs in one process.
//
// stdin: a JSON array of CASE objects (keys as oref0's determine-basal takes them:
// glucose_status, currenttemp, iob_data, profile, autosens, meal_data,
// microBolusAllowed, reservoir_data, currentTime).
// stdout: a JSON array, one entry per CASE: oref0's output object, or
// {"error": "..."} when oref0 returned or threw an error.
//
// Usage: node run_determine_basal.js <node_modules dir> < cases.json
// It calls lib/determine-basal/determine-basal.js exactly as bin/oref0-determine-basal.js
// does (the CLI's file reading replaced by the CASE's keys). Run it with TZ=UTC.
'use strict';

var path = require('path');
var modules = process.argv[2];
if (!modules) {
    process.stderr.write('usage: run_determine_basal.js <node_modules dir>\n');
    process.exit(2);
}
var determineBasal = require(path.join(modules, 'oref0/lib/determine-basal/determine-basal'));
var tempBasalFunctions = require(path.join(modules, 'oref0/lib/basal-set-temp'));

var chunks = [];
process.stdin.on('data', function (c) { chunks.push(c); });
process.stdin.on('end', function () {
    var cases = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    // determine-basal logs its working to stderr; silence it so only results are printed.
    var realError = console.error;
    var realWrite = process.stderr.write.bind(process.stderr);
    console.error = function () {};
    process.stderr.write = function () { return true; };
    var results = cases.map(function (c) {
        try {
            var reservoir = (c.reservoir_data === undefined) ? null : c.reservoir_data;
            var rT = determineBasal(
                c.glucose_status, c.currenttemp, c.iob_data, c.profile, c.autosens,
                c.meal_data, tempBasalFunctions, c.microBolusAllowed, reservoir,
                new Date(c.currentTime));
            return JSON.parse(JSON.stringify(rT));
        } catch (e) {
            return {error: 'threw: ' + String(e)};
        }
    });
    console.error = realError;
    process.stderr.write = realWrite;
    process.stdout.write(JSON.stringify(results));
});
