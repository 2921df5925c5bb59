/** lxt's version, shown by `lxt --version`. */
export const VERSION = "0.1.0";
