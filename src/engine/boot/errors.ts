/** A guest image that cannot be used, with the file it came from and what is wrong with it. */
export class ImageError extends Error {
  constructor(
    readonly file: string,
    readonly problem: string,
  ) {
    super(`${file}: ${problem}`);
    this.name = "ImageError";
  }
}
