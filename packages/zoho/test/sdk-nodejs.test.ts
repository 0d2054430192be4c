import * as ZOHOCRMSDK from "@zohocrm/nodejs-sdk-8.0";
import { describeSdkScenarios } from "./sdk-scenarios.js";

await describeSdkScenarios("nodejs", ZOHOCRMSDK);
