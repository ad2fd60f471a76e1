#!/usr/bin/env node
// Runs real oref0's glucose-get-last on many glucose series in one process.
//
// stdin: a JSON array; each item is an array of glucose entries, newest first, as
// oref0 reads glucose.json ({"date": ms, "glucose": mg/dL, "device": ...}).
// stdout: a JSON array of glucose_status objects (or {"error": ...}).
//
// Usage: node run_glucose_get_last.js <node_modules dir> < series.json
'use strict';

var path = require('path');
var modules = process.argv[2];
if (!modules) {
    process.stderr.write('usage: run_glucose_get_last.js <node_modules dir>\n');
    process.exit(2);
}
var getLastGlucose = require(path.join(modules, 'oref0/lib/glucose-get-last'));

var chunks = [];
process.stdin.on('data', function (c) { chunks.push(c); });
process.stdin.on('end', function () {
    var series = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    var realError = console.error;
    console.error = function () {};
    var results = series.map(function (s) {
        try {
            return JSON.parse(JSON.stringify(getLastGlucose(s)));
        } catch (e) {
            return {error: 'threw: ' + String(e)};
        }
    });
    console.error = realError;
    process.stdout.write(JSON.stringify(results));
});
