// Which app-wide overlay is open; views ignore their shortcuts while one is.
export const overlay = $state({ help: false });
