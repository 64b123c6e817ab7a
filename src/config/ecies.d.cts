/** eciesjs, required on first call (see ecies.cjs). */
export declare function loadEcies(): typeof import('eciesjs');
