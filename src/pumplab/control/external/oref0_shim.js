#!/usr/bin/env node
// pumplab's shim for real oref0: runs oref0's own determine-basal as a pumplab
// "external" controller, one long-lived process speaking pumplab.external/1.
//
// Each line on stdin is one request: a JSON object holding oref0's determine-basal
// inputs (glucose_status, currenttemp, iob_data, profile, autosens, meal_data,
// microBolusAllowed, reservoir_data, currentTime), the raw recent CGM entries
// ("glucose", newest first), and "cycle". For each request it writes exactly one
// line to stdout: determine-basal's output object with "cycle" added, or
// {"error": "...", "cycle": n} when oref0 returns or throws an error.
//
// The glucose status is computed by oref0's own lib/glucose-get-last.js from the raw
// "glucose" entries (unless --case-glucose-status is given, or there are none), and
// determine-basal is called exactly as oref0's bin/oref0-determine-basal.js calls it.
// determine-basal's working (console.error) is silenced unless --log is given.
//
// Usage:
//   node oref0_shim.js --oref0 <path to the installed oref0 package> [--log]
//                      [--case-glucose-status]
// Run it with TZ=UTC (pumplab does): oref0 reads the host's time zone.
'use strict';

var path = require('path');
var readline = require('readline');

function usage(msg) {
    process.stderr.write((msg ? msg + '\n' : '') +
        'usage: oref0_shim.js --oref0 <oref0 package dir> [--log] [--case-glucose-status]\n');
    process.exit(2);
}

var oref0Dir = null;
var log = false;
var caseGlucoseStatus = false;
var argv = process.argv.slice(2);
for (var i = 0; i < argv.length; i++) {
    if (argv[i] === '--oref0') {
        oref0Dir = argv[++i];
        if (!oref0Dir) { usage('--oref0 needs a directory'); }
    } else if (argv[i] === '--log') {
        log = true;
    } else if (argv[i] === '--case-glucose-status') {
        caseGlucoseStatus = true;
    } else {
        usage('unknown argument ' + argv[i]);
    }
}
if (oref0Dir === null) {
    try {
        oref0Dir = path.dirname(require.resolve('oref0/package.json'));
    } catch (e) {
        usage('oref0 not found: give --oref0 <dir>');
    }
}

var determineBasal = require(path.join(oref0Dir, 'lib/determine-basal/determine-basal'));
var tempBasalFunctions = require(path.join(oref0Dir, 'lib/basal-set-temp'));
var getLastGlucose = require(path.join(oref0Dir, 'lib/glucose-get-last'));

var realConsoleError = console.error;

function decide(req) {
    var status = req.glucose_status;
    if (!caseGlucoseStatus && Array.isArray(req.glucose) && req.glucose.length > 0) {
        status = getLastGlucose(req.glucose);
    }
    var reservoir = (req.reservoir_data === undefined) ? null : req.reservoir_data;
    if (!log) { console.error = function () {}; }
    try {
        return determineBasal(
            status, req.currenttemp, req.iob_data, req.profile, req.autosens, req.meal_data,
            tempBasalFunctions, req.microBolusAllowed, reservoir, new Date(req.currentTime));
    } finally {
        console.error = realConsoleError;
    }
}

var rl = readline.createInterface({input: process.stdin, crlfDelay: Infinity});
rl.on('line', function (line) {
    var out;
    var cycle;
    try {
        var req = JSON.parse(line);
        if (req === null || typeof req !== 'object' || Array.isArray(req)) {
            throw new Error('a request is a JSON object');
        }
        cycle = req.cycle;
        out = JSON.parse(JSON.stringify(decide(req)));
    } catch (e) {
        out = {error: 'oref0 shim: ' + String(e)};
    }
    if (out === null || typeof out !== 'object') {
        out = {error: 'oref0 returned ' + String(out)};
    }
    if (cycle !== undefined) { out.cycle = cycle; }
    process.stdout.write(JSON.stringify(out) + '\n');
});
rl.on('close', function () { process.exit(0); });
