import * as ZOHOCRMSDK from "@zohocrm/typescript-sdk-8.0";
import { describeSdkScenarios } from "./sdk-scenarios.js";

await describeSdkScenarios("typescript", ZOHOCRMSDK);
